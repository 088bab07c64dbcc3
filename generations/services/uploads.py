"""Files the studio puts into a ComfyUI's input folder, which every user of that ComfyUI shares.

Each user's uploads go under a folder named by a keyed hash of their id, and each file under a keyed
hash of the stored output it came from: nobody can guess another user's names. Custom workflows may
only read files from their owner's folder (limits of sharing one ComfyUI: README, "Custom workflows").
"""

import hashlib
import hmac
import posixpath

from django.conf import settings

# The built-in nodes that read a file from ComfyUI's input (or output) folder by name, and the input that
# names it; from ComfyUI 0.3.64's /object_info (the inputs flagged *_upload there). Checked against the
# recording in the tests.
FILE_READERS: dict[str, str] = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadImageOutput": "image",
    "LoadVideo": "file",
    "LoadAudio": "audio",
    "Load3D": "model_file",
    "Load3DAnimation": "model_file",
    "LoadLatent": "latent",
}
# Nodes that read whole folders of the shared input folder: never allowed in a custom workflow.
FOLDER_READERS = frozenset({"LoadImageSetFromFolderNode", "LoadImageTextSetFromFolderNode"})


def _keyed(purpose: str, value: int) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def user_folder(user_id: int) -> str:
    return f"studio-{_keyed('comfyui-folder', user_id)}"


def file_name(output_id: int) -> str:
    return f"{_keyed('comfyui-file', output_id)}.png"


class ForeignFile(ValueError):
    """A workflow reads a file that is not its owner's: the message says which node and what to do."""


def check_file_readers(graph: dict, user_id: int) -> None:
    folder = user_folder(user_id)
    for node_id, node in graph.items():
        kind = node.get("class_type")
        if kind in FOLDER_READERS:
            raise ForeignFile(
                f"Node {node_id} ({kind}) reads a whole folder of ComfyUI's input folder, which other people "
                "using this ComfyUI share; remove it."
            )
        name = FILE_READERS.get(kind)
        if name is None or name not in node.get("inputs", {}):
            continue
        value = node["inputs"][name]
        if not _in_folder(value, folder):
            shown = value if isinstance(value, str) else "a file named by another node"
            raise ForeignFile(
                f"Node {node_id} ({kind}) loads {shown!r} from ComfyUI's shared folders, where other people's "
                f"files are too. A custom workflow may only load files the studio uploaded for you (under "
                f"{folder}/); remove that node or let the studio provide the image."
            )


def _in_folder(value, folder: str) -> bool:
    if not isinstance(value, str) or "\\" in value:
        return False
    # ComfyUI's annotated names ("x.png [input]") pick the folder: only the input folder is ours.
    if value.endswith("]"):
        value, _, annotation = value.rpartition(" [")
        if annotation != "input]":
            return False
    normal = posixpath.normpath(value)
    return normal.startswith(folder + "/") and normal == value.strip()
