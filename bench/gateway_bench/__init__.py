"""The parts of `bench/gateway.py`: the configurations (``setups``), the scripted server
(``scripted_server``), a run's server and home (``servers``), the sequential and concurrent
runs (``sequential``, ``load``), the rounds (``rounds``), a ledger commit timed alone
(``commits``) and the section (``tables``)."""
