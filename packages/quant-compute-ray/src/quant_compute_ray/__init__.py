"""quant_compute_ray."""
