"""Every matplotlib figure of lpfk: functions that take analysis results and return or save
figures. The only sub-package that imports matplotlib (always with the Agg backend, set once in
``lpfk.plots._mpl``).

May import: matplotlib, numpy, torch, ``lpfk.ops`` and the result types of ``lpfk.analysis`` and
``lpfk.evaluation``.
"""
