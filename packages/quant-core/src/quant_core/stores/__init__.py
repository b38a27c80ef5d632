"""Where artifacts and the stage cache live: a local folder (the default, `$QUANT_HOME`) or a URL
served through fsspec (`s3://`, `gs://`, `az://`, ...). See `location.StoreLocation`.

This package imports nothing beyond quant-core's own modules; fsspec is imported by
`quant_core.stores.remote` only when a URL store is opened.
"""

from quant_core.stores.location import StoreLocation

__all__ = ["StoreLocation"]
