"""quant_flows_prefect."""
