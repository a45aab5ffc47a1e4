"""Rendering tuned settings into files: values, Jinja2 templates, output formats."""
