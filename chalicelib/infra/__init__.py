"""What Chorus deploys on AWS beside Chalice's functions, described once (description.py) and
rendered as CloudFormation (cloudformation.py) or Terraform (terraform.py). Build-time only:
`chorus package` uses it; nothing here reaches the Lambda zip."""
