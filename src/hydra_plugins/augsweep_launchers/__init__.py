"""augsweep's Hydra launchers (Hydra takes launchers only from the ``hydra_plugins``
namespace package): see :mod:`hydra_plugins.augsweep_launchers.waiting_submitit`."""
