"""Constructor arguments as scikit-learn parameters, for layers and transforms.

``get_params`` / ``set_params`` with scikit-learn's semantics let a list of
layers sit in an estimator's parameters as Pipeline's steps do:
``clone`` copies them, ``GridSearchCV`` searches ``conv1__filters``.
"""

import functools
import inspect


class ParamsMixin:
    """``get_params`` and ``set_params`` from the ``__init__`` signature.

    The parameters are the arguments the object was constructed with,
    recorded as passed (``__new__`` records them before ``__init__`` runs):
    a layer may normalize what it stores (``Conv2D`` keeps ``kernel_size=3``
    as ``(3, 3)`` and ``bias`` as ``use_bias``; ``MaxPool2D`` resolves
    ``stride=None``), yet ``clone`` must get back exactly what was passed.
    ``set_params`` runs the constructor again on the new arguments, so that
    everything derived from them follows (and a built layer is unbuilt).
    """

    #: Parameters a continued fit (``warm_start``, ``partial_fit``) may change
    #: without changing the architecture: the fitted copy of the object
    #: takes the new value as its attribute of that name (Dropout's rate).
    _warm_start_params = ()

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        try:
            bound = _init_signature(cls).bind(*args, **kwargs)
        except TypeError:  # a copy or an unpickling (no arguments): __dict__ follows
            return self
        bound.apply_defaults()
        self._init_params = dict(bound.arguments)
        return self

    @classmethod
    def _get_param_names(cls):
        return sorted(_init_signature(cls).parameters)

    def get_params(self, deep=True):
        """Get the parameters of this object (its constructor's arguments).

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of parameters that have ``get_params``,
            as ``name__param``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        recorded = self.__dict__.get("_init_params", {})
        out = {}
        for name in self._get_param_names():
            # Objects loaded from before the parameters were recorded keep
            # them as same-named attributes.
            value = recorded[name] if name in recorded else getattr(self, name, None)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params(deep=True).items())
            out[name] = value
        return out

    def set_params(self, **params):
        """Set parameters: the object is constructed again with the new arguments.

        Parameters
        ----------
        **params : dict
            Parameter names (``name`` or ``name__param`` for a parameter of a
            parameter) and their new values.

        Returns
        -------
        self : object
            This object, as ``type(self)(**new_params)`` would build it.
        """
        if not params:
            return self
        args = self.get_params(deep=False)
        nested = {}
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in args:
                raise ValueError(
                    f"Invalid parameter {name!r} for {self!r}. Valid parameters are: "
                    f"{self._get_param_names()!r}."
                )
            if delim:
                nested.setdefault(name, {})[sub] = value
            else:
                args[name] = value
        for name, sub_params in nested.items():
            args[name].set_params(**sub_params)
        fresh = type(self)(**args)  # validates the new arguments before anything changes
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def _continue_with(self, **params):
        """Take new values of ``_warm_start_params`` in a fitted object."""
        for name, value in params.items():
            setattr(self, name, value)
            if "_init_params" in self.__dict__:  # a new dict: copies share the old one
                self._init_params = {**self._init_params, name: value}


@functools.lru_cache(maxsize=None)
def _init_signature(cls):
    """The signature of ``cls.__init__`` without ``self``."""
    init = cls.__init__
    if init is object.__init__:
        return inspect.Signature()
    sig = inspect.signature(init)
    parameters = list(sig.parameters.values())[1:]
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(
                f"{cls.__name__}.__init__ takes *args or **kwargs: its parameters "
                "must be explicit to be get_params parameters."
            )
    return sig.replace(parameters=parameters)
