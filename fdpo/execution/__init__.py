"""``fdpo execute``'s record schema: what of a record runs in the sandbox, and how the results come back.

Covers turning a record's candidates × tests into sandbox jobs and the results
into its ``execution`` field (``matrix``), the output probes that record what a
candidate returns on a test's inputs (``probes``), and the prompt's own examples
added as tests (``examples``). Does not cover running code, which the generic
sandbox does (``fdpo.sandbox``), the command line (``fdpo.commands.execute``) or
how ranking reads the results (``fdpo.ranking``).
Imports nothing, so that importing one submodule stays light.
"""
