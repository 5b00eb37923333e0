"""The lecture's experiments, one module per topic.

Every module here is imported by ``layerlab.lab.registry.load_experiments`` (nothing to list);
its ``@experiment(..., order=N)`` functions register themselves, and ``order`` (the number of the
notes' claim an experiment tests first) gives the lecture order. A module imports the lab core
(``layerlab.lab``, ``layerlab.lab.stats``, ``layerlab.lab.training``, ``layerlab.lab.figures``) and
layerlab's public API only — never another experiment: what two experiments share belongs to the core.
"""
