"""What puts a signer into a user's account (ARCHITECTURE.md): bundle, template, deploy."""
