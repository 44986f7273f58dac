"""Durable jobs, leases, the clock and the workers that run timers."""
