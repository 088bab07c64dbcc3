"""What the render farm tells the rest of the studio; it never reaches into the conversation itself."""

from django.dispatch import Signal

# Sent with generation=<Generation>, warnings=[str] (what normalising the brief changed) and
# announce=<bool> (False: the caller tells the browsers itself), inside the transaction that created it.
generation_started = Signal()

# Sent with generation=<Generation> when a generation reaches complete, failed or cancelled.
generation_finished = Signal()

# Sent with generation=<Generation> and server=<url> just before a job is submitted to a ComfyUI server that
# shares its GPU with the language model: whoever holds models on that GPU should let them go now.
gpu_wanted = Signal()
