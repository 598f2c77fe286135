"""How each kind of node is drawn, and the legend that says so.

The conventions readers know from torchviz and micrograd: parameters light blue, outputs green,
derivative nodes orange (and dashed, so they read as "added by differentiation"), constants grey
and small, monospace labels. One table, so the legend and the nodes can never disagree.
"""

from __future__ import annotations

from typing import Any

FONT = "monospace"

KINDS: dict[str, tuple[str, dict[str, str]]] = {
    # kind: (legend text, graphviz node attributes)
    "input": ("input", {"shape": "box", "style": "rounded,filled", "fillcolor": "#e7f5ff",
                        "color": "#1c7ed6"}),
    "shared": ("shared parameter", {"shape": "box", "style": "filled",
                                    "fillcolor": "#a5d8ff", "color": "#1864ab"}),
    "constant": ("constant", {"shape": "box", "style": "filled", "fillcolor": "#f1f3f5",
                              "color": "#adb5bd", "fontsize": "10"}),
    "op": ("operation", {"shape": "box", "style": "filled", "fillcolor": "#ffffff",
                         "color": "#495057"}),
    "output": ("output", {"shape": "box", "style": "filled,bold", "fillcolor": "#b2f2bb",
                          "color": "#2b8a3e"}),
    "stabilized": ("stable form (what grad differentiates)",
                   {"shape": "box", "style": "filled,dotted", "fillcolor": "#fff9db",
                    "color": "#f08c00"}),
    "derivative": ("derivative (added by grad)", {"shape": "box", "style": "filled,dashed",
                                                  "fillcolor": "#ffe8cc", "color": "#e8590c"}),
    "gradient": ("gradient output", {"shape": "box", "style": "filled,bold",
                                     "fillcolor": "#ffc078", "color": "#2b8a3e"}),
    "scope": ("folded name scope", {"shape": "box3d", "style": "filled", "fillcolor": "#f3f0ff",
                                    "color": "#5f3dc4"}),
}

# light and thin: the links cross the drawing and must not hide the data flow
ADJOINT_LINK = {"style": "dashed", "color": "#f7a96b", "arrowhead": "odot", "arrowsize": "0.6",
                "constraint": "false", "penwidth": "0.8"}

GRAPH_ATTR = {"fontname": FONT, "nodesep": "0.25", "ranksep": "0.35"}
NODE_ATTR = {"fontname": FONT, "fontsize": "11", "margin": "0.08,0.04", "height": "0.3"}
EDGE_ATTR = {"fontname": FONT, "fontsize": "9", "color": "#495057", "arrowsize": "0.7"}


def node_style(kind: str) -> dict[str, str]:
    return dict(KINDS[kind][1])


def add_legend(graph: Any, kinds: list[str], adjoint_links: bool, column: bool = False) -> None:
    """A boxed legend with one sample node per kind drawn (and the adjoint link, if any).
    ``column``: stack the samples with invisible edges (a top-down drawing would otherwise lay
    them out in one wide row)."""
    if not kinds:
        return
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", style="rounded", color="#ced4da", fontname=FONT)
        for k, kind in enumerate(kinds):
            legend.node(f"legend_{kind}", KINDS[kind][0], **node_style(kind))
            if column and k:
                legend.edge(f"legend_{kinds[k - 1]}", f"legend_{kind}", style="invis")
        if adjoint_links:
            legend.node("legend_adj_a", "adjoint", **node_style("derivative"))
            legend.node("legend_adj_b", "its primal", **node_style("op"))
            legend.edge("legend_adj_a", "legend_adj_b", label="adjoint of",
                        **{k: v for k, v in ADJOINT_LINK.items() if k != "constraint"})
