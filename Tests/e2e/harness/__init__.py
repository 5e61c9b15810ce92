"""The end-to-end tests' harness: plain modules, no pytest, that the tests and bench/ import as the
package `harness` (Tests/e2e/pytest.ini puts Tests/e2e on the path; the make targets that run
bench/ scripts set PYTHONPATH the same way).

- paths: the repository root, defined once
- ports: free loopback ports
- http: HTTP as a client sees it, and HTTP/1.1 responses parsed by h11
- answering_server: a loopback HTTP server answering what a function says (another service's stand-in)
- servers: the release binary as a running `epoch serve`, a process's RSS, the checkout's rev
- commands: running a command with its output kept for the failure message
- certificates: throwaway CAs and certificates (trustme)
- kubernetes: rendered overlays, finding objects, label selectors, podman
- container, deploy, admission: the image, the deploy script and the admission policy's CEL
- flood, load, nginx, rollout: the pipelining flood, the load generator, nginx in front, the rollout
- fuzz, fuzz_inputs, padding_relay: hostile input's cases, player, judge and tally; the hypothesis
  strategy of each input class; the relay the fuzzer's control puts in front of the server
- roughly_peer: a script the Roughtime tests run under roughly's Python
"""
