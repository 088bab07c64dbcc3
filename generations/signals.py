from django.dispatch import Signal

# Sent with generation=<Generation> when a generation reaches complete, failed or cancelled.
generation_finished = Signal()
