"""The sim engine: deterministic, in-process, virtual time, scripted far ends."""

from callvault.telephony.sim.driver import SimulationStalled
from callvault.telephony.sim.engine import SimEngine
from callvault.telephony.sim.far_end import Directory, FarEnd

__all__ = ["Directory", "FarEnd", "SimEngine", "SimulationStalled"]
