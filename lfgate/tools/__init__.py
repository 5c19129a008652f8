"""Tools around the checker: convert tables into LLaMA-Factory data, register data files, dataset statistics.

Each module is imported only by the command that needs it; pandas, tokenizers and matplotlib are imported inside
the functions that use them.
"""
