"""The Pulumi Cloud REST API: the HTTP client and the policy-groups API over it."""
