"""Which node a request is for: the gateway's one routing decision when it fronts several nodes.

A node is one engine and one netd. The gateway's configuration lists them (``nodes``; by
default the one local node), and every request is routed here, once, before its handler runs:

- a ``node`` query parameter names the node, for any request;
- about an existing container (``/containers/{id}/...``, ``/commit?container=``, a network
  connect or disconnect naming a ``Container``) or exec (``/exec/{id}/...``): the node that has
  it, found by asking every node's engine at once, remembered in a small id → node cache;
- about an image, volume or network by name: the first node if it has one, else the one node
  that has it;
- creating a container: the node named by ``node`` or by the ``estiba.node`` label of the body
  (what any Docker client can send: ``docker run -l estiba.node=n2``), else the healthy node
  running the fewest containers among those with its image (none has it: the first node);
  a network, volume, pull or load: the named node, else the first; builds and events are the
  first node's;
- listing containers, images, volumes or networks, pruning, ``/system/df``: every node (or those
  a ``label=estiba.node=NAME`` filter names); the answers are merged, list items labelled
  ``estiba.node`` with their node, and a node that does not answer is left out with an HTTP
  ``Warning`` header (``199 estiba "..."``) instead of failing the whole answer.

Handlers then take the services of their node from ``backends_of(request)``. With one node
nothing is asked, merged or labelled: the single node is the answer, at no cost.
"""

from services.gateway.nodes.middleware import routing
from services.gateway.nodes.where import NODE, NODE_LABEL, NODES, Node, Nodes, backends_of

__all__ = ["NODE", "NODES", "NODE_LABEL", "Node", "Nodes", "backends_of", "routing"]
