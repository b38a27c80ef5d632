"""quant_cli."""
