"""Pure array kernels, one module per family (as ``torch.nn.functional``).

The layers of :mod:`skcnn.layers` call them; they hold no state. Kernels work
on channels-last memory and never loop over samples, pixels or channels.
"""
