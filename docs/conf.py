# SPDX-License-Identifier: GPL-3.0-or-later
"""Sphinx settings of the collection's docs site (docs/build.sh renders it from antsibull-docs' RST)."""

project = "oomguard.memory"
copyright = "oomguard maintainers"  # pylint: disable=redefined-builtin
title = "oomguard.memory documentation"
html_short_title = "oomguard.memory"

extensions = ["sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
display_version = False

# The build is offline: no intersphinx inventories. The rendered pages link to ansible-core's docs
# (common return values, ansible.builtin modules) by labels that only those inventories define.
intersphinx_mapping = {}
suppress_warnings = ["ref.ref"]
default_role = "any"
