"""The AWS Lambda entry point: the pipeline behind a Lambda Function URL (docs/aws.md).

The handler is `functions.aws_lambda.handler.handler`. This package imports nothing at
import time, so `functions.aws_lambda.settings` and the emulator stay cheap.
"""
