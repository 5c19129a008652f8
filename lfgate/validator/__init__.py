"""Validators: readers turn files into parsed data, the rule functions here turn that into diagnostics."""
