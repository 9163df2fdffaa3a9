"""Which numbers share a mean and a variance: the normalization family on an (N, C, H, W) block.

The classic picture (Wu & He, *Group Normalization*, 2018, figure 2) draws a
batch of feature maps as a cube with the axes N (examples), C (channels) and
H, W (positions, flattened into one axis), and shades the cells that one
normalization statistic is taken over. Here the picture is computed, not
drawn by hand: :func:`statistic_groups` labels every cell of the block with the
statistic it belongs to, and :func:`draw_block` colours the cube by those
labels. The tests check the labels against the layers themselves.

==================  ==========================================  ====================
norm                layer                                       one statistic over
==================  ==========================================  ====================
batchnorm           batchnorm_forward on x.reshape(N, C*H*W)    N (per c, h, w)
layernorm           layernorm_forward on x.reshape(N, C*H*W)    C, H, W (per n)
spatial_batchnorm   spatial_batchnorm_forward                   N, H, W (per c)
groupnorm           spatial_groupnorm_forward with G groups     C/G, H, W (per n, group)
instancenorm        spatial_groupnorm_forward with G = C        H, W (per n, c)
==================  ==========================================  ====================
"""

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

NORMS = ("batchnorm", "layernorm", "spatial_batchnorm", "groupnorm", "instancenorm")
NORM_TITLES = {
    "batchnorm": "Batch norm (on N × CHW)",
    "layernorm": "Layer norm",
    "spatial_batchnorm": "Spatial batch norm",
    "groupnorm": "Group norm",
    "instancenorm": "Instance norm",
}
REDUCED_OVER = {
    "batchnorm": "N",
    "layernorm": "C, H, W",
    "spatial_batchnorm": "N, H, W",
    "groupnorm": "C/G, H, W",
    "instancenorm": "H, W",
}
ONE_STATISTIC_PER = {
    "batchnorm": "(c, h, w)",
    "layernorm": "example n",
    "spatial_batchnorm": "channel c",
    "groupnorm": "(n, group)",
    "instancenorm": "(n, c)",
}
HIGHLIGHT = "#3b75af"  # the shade of one statistic's cells
OTHER = "#f4f4f4"  # every other cell, when only one statistic is shaded
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # Tableau 10, for "every statistic"


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    return norm


def _check_shape(shape):
    if not (isinstance(shape, (tuple, list)) and len(shape) == 4
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape)):
        raise ValueError(f"shape must be (N, C, H, W), four positive integers, got {shape!r}")
    return tuple(int(n) for n in shape)


def _check_groups(norm, G, C):
    if norm != "groupnorm":
        return None
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise ValueError(f"G must be a positive integer dividing the number of channels C={C} for group norm, got {G!r}")
    return int(G)


def statistic_groups(norm, shape, G=None):
    """Label each cell of an (N, C, H, W) block with the statistic it is normalized by.

    Two cells get the same label exactly when the normalization computes their
    mean and variance together. Labels are 0, 1, ..., K-1 for K statistics.

    Parameters
    ----------
    norm : str, one of :data:`NORMS`
    shape : (N, C, H, W)
    G : int, number of channel groups (group norm only; must divide C)

    Returns
    -------
    labels : ndarray of int, shape (N, C, H, W)
    """
    norm = _check_norm(norm)
    N, C, H, W = _check_shape(shape)
    G = _check_groups(norm, G, C)
    n, c, h, w = np.indices((N, C, H, W), sparse=True)
    zeros = np.zeros((N, C, H, W), dtype=np.int64)
    if norm == "batchnorm":  # one statistic per column of x.reshape(N, C*H*W)
        labels = (c * H + h) * W + w
    elif norm == "layernorm":  # one per row of x.reshape(N, C*H*W)
        labels = n
    elif norm == "spatial_batchnorm":
        labels = c
    elif norm == "groupnorm":  # contiguous channels share a group, as in x.reshape(N, G, -1)
        labels = n * G + c // (C // G)
    else:  # instancenorm
        labels = n * C + c
    return zeros + labels


def group_summary(norm, shape, G=None):
    """One sentence: how many statistics the normalization takes, each over how many numbers.

    Returns
    -------
    str, e.g. 'Group norm (G=2): 8 means and variances, each over 12 numbers (C/G, H, W), one per (n, group)'
    """
    labels = statistic_groups(norm, shape, G)
    count = int(labels.max()) + 1
    per = labels.size // count
    name = NORM_TITLES[norm] + (f" (G={G})" if norm == "groupnorm" else "")
    return (f"{name}: {count} means and variances, each over {per} numbers "
            f"({REDUCED_OVER[norm]}), one per {ONE_STATISTIC_PER[norm]}")


# ------------------------------------------------------------------ drawing


def block_colours(labels, colour="one"):
    """RGBA colour of each cell: one statistic shaded (colour='one') or every statistic in turn ('all').

    With 'one', the statistic of the cell (n=0, c=0, h=0, w=0) is shaded and the
    rest is pale; with 'all', statistic k gets ``PALETTE[k % 10]``.

    Returns
    -------
    ndarray, shape labels.shape + (4,)
    """
    labels = np.asarray(labels)
    if colour == "one":
        chosen = labels == labels.flat[0]
        return np.where(chosen[..., None], to_rgba(HIGHLIGHT), to_rgba(OTHER))
    if colour == "all":
        palette = np.array([to_rgba(c) for c in PALETTE])
        return palette[labels % len(PALETTE)]
    raise ValueError(f"colour must be 'one' or 'all', got {colour!r}")


def draw_block(ax, labels, colour="one", title=None):
    """Draw the (N, C, H, W) block as a cube of cells on a 3-D axes, coloured by statistic.

    Axes as in the Group Norm paper: N runs to the right, C into the depth, H and
    W (flattened into one axis) downwards; the cell (n=0, c=0, h=0, w=0) is the
    front top-left one.

    Parameters
    ----------
    ax : a matplotlib Axes3D (``fig.add_subplot(projection='3d')``)
    labels : ndarray of int, shape (N, C, H, W), from :func:`statistic_groups`
    colour : 'one' or 'all' (see :func:`block_colours`)
    title : optional str

    Returns
    -------
    dict, (n, c, position) -> the cell's Poly3DCollection, where position = h * W + w
    counts from the top of the cube
    """
    labels = np.asarray(labels)
    if labels.ndim != 4:
        raise ValueError(f"labels must have shape (N, C, H, W), got shape {labels.shape}")
    N, C, H, W = labels.shape
    colours = block_colours(labels, colour).reshape(N, C, H * W, 4)
    # voxel grid indexed (x, y, z) = (example, channel from the front, position from the bottom)
    grid_colours = colours[:, :, ::-1]
    filled = np.ones((N, C, H * W), dtype=bool)
    faces = ax.voxels(filled, facecolors=grid_colours, edgecolor=(0.2, 0.2, 0.2, 0.6), linewidth=0.4, shade=False)
    ax.set_box_aspect((N, C, H * W))
    ax.view_init(elev=22, azim=-122)  # looking at the front (c=0), the left (n=0) and the top
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    ax.set_xlabel("N", labelpad=-12)
    ax.set_ylabel("C", labelpad=-12)
    ax.set_zlabel("H, W", labelpad=-12)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.pane.set_visible(False)
        axis.line.set_color((0, 0, 0, 0))
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=10)
    top = H * W - 1
    return {(n, c, top - z): face for (n, c, z), face in faces.items()}


def plot_normalization_family(shape=(4, 6, 2, 2), G=2, colour="one", norms=NORMS, figsize=(13, 3.4)):
    """The five normalizations side by side on one (N, C, H, W) block.

    Parameters
    ----------
    shape : (N, C, H, W)
    G : int, groups for group norm
    colour : 'one' (the cells of one statistic shaded, as in the Group Norm paper)
        or 'all' (every statistic its own colour)
    norms : which of :data:`NORMS` to draw, in order
    figsize : (width, height) in inches

    Returns
    -------
    matplotlib.figure.Figure
    """
    shape = _check_shape(shape)
    norms = [_check_norm(n) for n in norms]
    fig = Figure(figsize=figsize)
    for index, norm in enumerate(norms):
        ax = fig.add_subplot(1, len(norms), index + 1, projection="3d")
        labels = statistic_groups(norm, shape, G if norm == "groupnorm" else None)
        title = NORM_TITLES[norm] + (f", G={G}" if norm == "groupnorm" else "")
        draw_block(ax, labels, colour, title=f"{title}\nover {REDUCED_OVER[norm]}")
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.02, top=0.86, wspace=0.02)
    return fig
