"""AWS wire protocols driven by botocore's service models: codecs, validation, dispatch."""
