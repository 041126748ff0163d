"""The engine: keyed random streams, priors, mechanisms, Mesa agents and model, the ensemble,
parallel maps and estimates. Imports only ``alignsim.scenario`` (and ``alignsim.errors``)."""
