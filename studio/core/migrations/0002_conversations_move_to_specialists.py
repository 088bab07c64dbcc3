"""Conversations and messages now live in the specialists app (its 0001 copied the rows)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.DeleteModel(
            name='Message',
        ),
        migrations.DeleteModel(
            name='Conversation',
        ),
    ]
