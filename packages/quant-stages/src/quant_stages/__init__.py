"""quant_stages."""
