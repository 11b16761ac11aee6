"""Published CdSe material relations shared by the simulator and the analysis.

These are facts about CdSe (sizing curve, extinction, sphere scattering), not about
the simulator, so both ``sim`` and ``analysis`` may use them.
"""
