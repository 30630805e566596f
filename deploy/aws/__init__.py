"""AWS: the arm64 bundle builder, the offline template checks, the quick-create link and a
direct CloudFormation deploy with the user's credentials (docs/aws.md)."""
