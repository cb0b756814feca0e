"""The network seen: name, layer, output shape and parameters of every layer.

:class:`NetworkSummary` prints as a plain-text table (terminals, logs) and
shows as an HTML table in Jupyter. For scikit-learn's estimator diagram,
``network_block`` lists the layers as a Pipeline lists its steps, and
``params_html`` leaves out the parameters a layer list makes unused and adds
the table. Before ``fit`` only the layers are known: shapes and parameter
counts come with the data.

The diagram is built with scikit-learn's private ``_VisualBlock``, the
structure Pipeline and ColumnTransformer return from ``_sk_visual_block_``.
Should it move, scikit-learn shows its plain diagram instead (it catches
what ``_sk_visual_block_`` raises) and the text table is unchanged.
"""

import html
import math
import warnings
from dataclasses import dataclass

from sklearn.base import is_classifier

from ._architecture import NETWORK_PARAMS, OUTPUT_NAME, build_cnn_layers, layer_params
from ._validation import resolve_image_shape, validate_hyperparameters

try:  # scikit-learn >= 1.7
    from sklearn.utils._repr_html.estimator import _VisualBlock
except ImportError:  # pragma: no cover
    try:
        from sklearn.utils._estimator_html_repr import _VisualBlock
    except ImportError:
        _VisualBlock = None
try:  # scikit-learn >= 1.7: the parameter table of the diagram
    from sklearn.utils._repr_html.params import ParamsDict
except ImportError:  # pragma: no cover
    ParamsDict = None

# Samples large enough that no pooling window of the built-in network is
# clipped: what its layers are before fit, when the data are not known yet.
_ANY_IMAGE = (1, 2**20, 2**20)
_NOT_FITTED = "output shapes and parameters come with the data, at fit"


@dataclass(frozen=True)
class LayerRow:
    """One layer of a :class:`NetworkSummary`.

    Attributes
    ----------
    name : str
        The layer's name (``layer_names_``, or in ``layers``).
    kind : str
        The layer's class name.
    layer : str
        What the layer is: its repr.
    output_shape : tuple of int or None
        The shape of one output sample; None before fit.
    input_shape : tuple of int or None
        The shape of one input sample; None before fit.
    params : tuple of (str, tuple of int)
        Name and shape of each trainable array (``weight``, ``bias``, ...).
    n_params : int or None
        Trainable values: the sum of the sizes in ``params``; None before fit.
    n_state : int
        Values training moves that are not parameters (batch normalization's
        running mean and variance).
    """

    name: str
    kind: str
    layer: str
    output_shape: tuple | None = None
    input_shape: tuple | None = None
    params: tuple = ()
    n_state: int = 0

    @property
    def n_params(self):
        if self.output_shape is None:
            return None
        return sum(math.prod(shape) for _, shape in self.params)


class NetworkSummary:
    """The layers of an estimator's network as a table.

    Returned by ``summary()`` of :class:`~skcnn.NumpyCNNClassifier` and
    :class:`~skcnn.NumpyCNNRegressor`: ``print(summary)`` (or ``str``) gives
    the plain-text table, Jupyter shows it as an HTML table.

    Attributes
    ----------
    title : str
        What the table describes: the estimator and its input, or that it is
        not fitted yet.
    rows : list of LayerRow
        One per layer, in network order, the output layer last.
    fitted : bool
        Whether shapes and parameter counts are known.
    total_params : int or None
        Trainable values of the whole network (None before fit).
    total_state : int
        Values training moves that are not parameters (batch normalization's
        running statistics).
    """

    def __init__(self, title, rows, fitted):
        self.title = title
        self.rows = list(rows)
        self.fitted = fitted

    @property
    def total_params(self):
        return sum(row.n_params for row in self.rows) if self.fitted else None

    @property
    def total_state(self):
        return sum(row.n_state for row in self.rows)

    def _header(self):
        # Before fit only the layers are known: no columns of question marks.
        return ("Name", "Layer", "Output shape", "Parameters")[: 4 if self.fitted else 2]

    def _cells(self):
        for row in self.rows:
            if self.fitted:
                yield row.name, row.layer, _shape(row.output_shape), f"{row.n_params:,}"
            else:
                yield row.name, row.layer

    def _footer(self):
        if not self.fitted:
            return []
        lines = [("Total trainable parameters", f"{self.total_params:,}")]
        if self.total_state:
            lines.append(("Not trainable (batch-norm running statistics)", f"{self.total_state:,}"))
        return lines

    def __str__(self):
        header = self._header()
        cells = [header] + list(self._cells())
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

        def line(row):
            # Parameter counts right-aligned, the other columns left-aligned.
            return "  ".join(
                cell.rjust(width) if i == 3 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths))
            ).rstrip()

        rule = "  ".join("-" * width for width in widths)
        lines = [self.title, line(header), rule] + [line(row) for row in cells[1:]]
        if self.fitted:
            lines.append(rule)
        lines += [f"{label}: {value}" for label, value in self._footer()]
        return "\n".join(lines)

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        return self._html()

    def _html(self, table_class="", row_class=""):
        """The table as HTML; ``table_class`` and ``row_class`` style it (in
        scikit-learn's diagram, as its parameter table)."""
        esc = html.escape
        tr = f'<tr class="{row_class}">' if row_class else "<tr>"
        right = ' style="text-align: right"'

        def cells(row, tag="td"):
            return "".join(
                f"<{tag}{right if i == 3 else ''}>"
                + (f"<code>{esc(cell)}</code>" if i == 1 and tag == "td" else esc(cell))
                + f"</{tag}>"
                for i, cell in enumerate(row)
            )

        table_attr = f' class="{table_class}"' if table_class else ""
        head = f"{tr}{cells(self._header(), 'th')}</tr>"
        body = "".join(f"{tr}{cells(row)}</tr>" for row in self._cells())
        foot = "".join(
            f'{tr}<th colspan="3">{esc(label)}</th><th{right}>{esc(value)}</th></tr>'
            for label, value in self._footer()
        )
        return (
            f'<div class="skcnn-network"><p>{esc(self.title)}</p>'
            f"<table{table_attr}><thead>{head}</thead><tbody>{body}</tbody>"
            + (f"<tfoot>{foot}</tfoot>" if foot else "")
            + "</table></div>"
        )


def _shape(shape):
    return str(tuple(int(s) for s in shape))


def network_summary(est):
    """The :class:`NetworkSummary` of estimator ``est``, fitted or not.

    Before fit the hyperparameters are checked as ``fit`` checks them (a
    ValueError names a wrong one) and the layers they give are listed.
    """
    name = type(est).__name__
    network = getattr(est, "_network", None)
    if network is None:
        layers, note = _layers_before_fit(est)
        rows = [
            LayerRow(layer_name, type(layer).__name__, repr(layer)) for layer_name, layer in layers
        ]
        units = "one unit per class, one for two classes" if is_classifier(est) else (
            "one unit per target"
        )
        rows.append(LayerRow(OUTPUT_NAME, "Dense", f"Dense({units})"))
        return NetworkSummary(f"{name} (not fitted): {_NOT_FITTED}.{note}", rows, fitted=False)
    rows = []
    for layer_name, layer in zip(est.layer_names_, network.layers):
        arrays = [(attr, getattr(layer, attr)) for attr in layer.param_names]
        state = [getattr(layer, attr) for attr in layer.state_names]
        rows.append(LayerRow(
            layer_name, type(layer).__name__, repr(layer),
            output_shape=tuple(layer.output_shape),
            input_shape=tuple(layer.input_shape),
            params=tuple((attr, a.shape) for attr, a in arrays if a is not None),
            n_state=sum(a.size for a in state if a is not None),
        ))
    title = (
        f"{name}: {len(rows)} layers on samples of shape {_shape(est.image_shape_)}, "
        f"in {network.params[0].dtype}"
    )
    if getattr(est, "data_format", "channels_first") == "channels_last":
        title += " (shapes channels first, as the network computes; X is read channels last)"
    return NetworkSummary(title, rows, fitted=True)


def _layers_before_fit(est):
    """The ``(name, layer)`` pairs of ``est``'s network without the output
    layer, and a note on what the data may still change."""
    with warnings.catch_warnings():  # fit warns about parameters a layer list ignores
        warnings.simplefilter("ignore")
        arch = validate_hyperparameters(est)
    if est.layers is not None:
        return [(name, layer) for name, layer in est.layers], ""
    note = ""
    if est.image_shape is None:
        # The built-in network fits its kernels and pools to the samples.
        shape = _ANY_IMAGE
        note = " The layers are those for images: on signals, kernels and pools act along them."
    else:
        shape = resolve_image_shape(
            est.image_shape, math.prod(est.image_shape), data_format=arch["data_format"]
        )
    named = build_cnn_layers(shape, 1, **{key: arch[key] for key in NETWORK_PARAMS})
    return named[:-1], note


# ------------------------------------------------- scikit-learn's diagram


def network_block(est):
    """The diagram of ``est`` (its ``_sk_visual_block_``): the layers in
    series, as a Pipeline's steps, each with its output shape and parameter
    count below its name and its details when unfolded."""
    if _VisualBlock is None:  # pragma: no cover
        raise ImportError("this scikit-learn has no _VisualBlock")
    summary = network_summary(est)
    blocks = [
        _VisualBlock(
            "single", row, names=f"{row.name}: {row.kind}", name_details=_details(row, summary),
            name_caption=_caption(row) if summary.fitted else None,
        )
        for row in summary.rows
    ]
    return _VisualBlock(
        "serial", blocks, names=[block.names for block in blocks],
        name_details=[block.name_details for block in blocks], dash_wrapped=False,
    )


def _caption(row):
    shape = _shape(row.output_shape)
    return f"{shape}, {row.n_params:,} parameters" if row.n_params else shape


def _details(row, summary):
    lines = [row.layer]
    if not summary.fitted:
        return "\n".join(lines + [f"Not fitted: {_NOT_FITTED}."])
    lines.append(f"input {_shape(row.input_shape)} -> output {_shape(row.output_shape)}")
    if row.params:
        arrays = " + ".join(f"{attr} {_shape(shape)}" for attr, shape in row.params)
        lines.append(f"{arrays} = {row.n_params:,} parameters")
    if row.n_state:
        lines.append(f"running statistics: {row.n_state:,} values (not trained)")
    return "\n".join(lines)


def params_html(est, params):
    """The parameter table of ``est``'s diagram (``params``: scikit-learn's
    ``ParamsDict``), without what a layer list makes unused or shows as steps,
    and followed by the network's table."""
    if ParamsDict is None or not isinstance(params, ParamsDict):  # pragma: no cover
        return params
    hidden = set()
    if est.layers is not None:
        hidden = {*NETWORK_PARAMS, "layers", *layer_params(est.layers)}
    try:
        network = network_summary(est)._html("parameters-table", "default")
    except (ValueError, TypeError):  # invalid hyperparameters: fit says what is wrong
        network = ""
    out = _ParamsAndNetwork(
        params={key: value for key, value in params.items() if key not in hidden},
        non_default=tuple(key for key in params.non_default if key not in hidden),
        estimator_class=params.estimator_class,
        doc_link=params.doc_link,
    )
    out.network_html = (
        f'<div class="estimator-table"><details open><summary>Network</summary>{network}'
        "</details></div>"
    ) if network else ""
    return out


if ParamsDict is not None:

    class _ParamsAndNetwork(ParamsDict):
        """scikit-learn's parameter table, followed by the network's."""

        network_html = ""

        def _html_repr(self):
            return super()._html_repr() + self.network_html
