"""The built-in LoRA SFT runner: templates, tokenisation, devices, the recipe, the dry-run plan."""
