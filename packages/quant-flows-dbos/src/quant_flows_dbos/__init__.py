"""quant_flows_dbos."""
