"""quant_skills."""
