"""A generation no longer points at the conversation: the chat's messages point at their generations."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0002_customworkflow'),
    ]
    # The chat tables that these links pointed at go only after them.
    run_before = [('core', '0002_conversations_move_to_specialists')]

    operations = [
        migrations.RemoveField(
            model_name='generation',
            name='conversation',
        ),
        migrations.RemoveField(
            model_name='generation',
            name='message',
        ),
    ]
