"""Behavioural fakes of the CRMs: they hold contacts and apply each API's semantics."""
