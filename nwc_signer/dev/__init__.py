"""The developer stack behind `nwc-signer dev`, the end-to-end tests and the benchmarks.

- command.py: the `nwc-signer dev` command (ports, wallet, start order, URI when serving)
- process.py: the one supervisor of child processes (start, ready probe, log, stop)
- mint.py, relay.py: the nutshell test mint and the relays (in-process LocalRelay, nostr-relay)
- watcher.py: the relay-watcher process and wallet registration
- runtimes.py, cold.py, aws.py: where the signer function runs (local warm/cold, Lambda on moto)
- ready.py: "is the stack serving this URI?", asked through the relay
- driver.py, nwc_app.py: drive a wallet like the watcher and an app do, without a relay
- harness.py: what the tests use (driver.py's wallets, the CLI run in-process)

Nothing in the product imports this package; it may import anything.
"""
