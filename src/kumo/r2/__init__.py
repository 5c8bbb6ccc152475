"""R2: S3-compatible object storage. `store.py` is the backend interface (`ObjectStore`), `service.py` R2's
semantics over it (`R2Service`, what every surface and other products call), `s3/` the S3 wire."""
