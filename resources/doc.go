// Package resources owns the agent contract (start, stop, status,
// idempotent) and the built-in agents: IP addresses, the IPVS table, the
// ldirector, the sync daemon, MailTo and script resources.
package resources
