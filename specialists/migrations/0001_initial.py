"""Conversations and messages move from the core app to specialists; what drove control flow from
``Message.metadata`` (kind, turn, pause, retried, result, the brief, the generation link) becomes columns."""

import django.db.models.deletion
from django.core.management.color import no_style
from django.db import migrations, models

# metadata keys that became columns (or are implied by one) and are dropped from metadata
_MOVED_KEYS = {"kind", "turn", "pause", "retried", "result", "brief", "generation_id", "phase_start"}


def copy_rows(apps, schema_editor):
    try:
        OldConversation = apps.get_model("core", "Conversation")
        OldMessage = apps.get_model("core", "Message")
    except LookupError:  # a database created after the move
        return
    Conversation = apps.get_model("specialists", "Conversation")
    Message = apps.get_model("specialists", "Message")
    Generation = apps.get_model("generations", "Generation")
    card_of = dict(Generation.objects.exclude(message=None).values_list("message_id", "pk"))
    generation_ids = set(Generation.objects.values_list("pk", flat=True))
    for old in OldConversation.objects.order_by("pk"):
        Conversation.objects.create(
            id=old.pk, session_id=old.session_id, phase=old.phase, round=old.round, running_since=old.running_since,
            model_overrides=old.model_overrides, created_at=old.created_at,
        )
    for old in OldConversation.objects.exclude(replayed_from=None):
        Conversation.objects.filter(pk=old.pk).update(replayed_from_id=old.replayed_from_id)
    batch = []
    for old in OldMessage.objects.order_by("pk").iterator():
        meta = old.metadata or {}
        kind = meta.get("kind") or "chat"
        if meta.get("result"):
            kind = "result"
        generation_id = card_of.get(old.pk) or meta.get("generation_id") or meta.get("refine_generation_id")
        batch.append(Message(
            id=old.pk, conversation_id=old.conversation_id, role=old.role, kind=kind, content=old.content,
            status=old.status, opens_turn=bool(meta.get("turn")), pauses=bool(meta.get("pause")),
            retried=bool(meta.get("retried")),
            generation_id=generation_id if generation_id in generation_ids else None,
            brief=meta.get("brief") if kind == "brief" else None,
            metadata={k: v for k, v in meta.items() if k not in _MOVED_KEYS and k != "refine_generation_id"},
            order=old.order, phase=old.phase, round=old.round, created_at=old.created_at, updated_at=old.updated_at,
        ))
        if len(batch) >= 500:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    # Rows were inserted with their ids: move the id sequences past them (PostgreSQL).
    with schema_editor.connection.cursor() as cursor:
        for statement in schema_editor.connection.ops.sequence_reset_sql(no_style(), [Conversation, Message]):
            cursor.execute(statement)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('core', '0001_initial'),
        ('generations', '0002_customworkflow'),
    ]
    # The rows are copied from the tables that held them before; those go only after this.
    run_before = [
        ('generations', '0003_generation_links_move_to_messages'),
        ('core', '0002_conversations_move_to_specialists'),
    ]

    operations = [
        migrations.CreateModel(
            name='Conversation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('phase', models.CharField(choices=[('ideation', 'Ideation'), ('refinement', 'Refinement'), ('synthesis', 'Synthesis'), ('review', 'Review'), ('generating', 'Generating'), ('complete', 'Complete')], default='ideation', max_length=16)),
                ('round', models.PositiveIntegerField(default=1)),
                ('running_since', models.DateTimeField(blank=True, null=True)),
                ('model_overrides', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('replayed_from', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to='specialists.conversation')),
                ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to='core.session')),
            ],
            options={
                'ordering': ['created_at', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('user', 'You'), ('style', 'Luna'), ('composition', 'Frame'), ('story', 'Saga'), ('technical', 'Pixel'), ('critic', 'Lens'), ('system', 'Studio')], max_length=16)),
                ('kind', models.CharField(choices=[('chat', 'Chat'), ('drafting', 'Brief being drafted'), ('brief', 'Brief'), ('generation', 'Generation card'), ('notice', 'Notice'), ('result', 'A finished generation, for the team to look at')], default='chat', max_length=16)),
                ('content', models.TextField(blank=True)),
                ('status', models.CharField(choices=[('streaming', 'Streaming'), ('complete', 'Complete'), ('interrupted', 'Interrupted'), ('failed', 'Failed')], default='complete', max_length=16)),
                ('opens_turn', models.BooleanField(default=False)),
                ('pauses', models.BooleanField(default=False)),
                ('retried', models.BooleanField(default=False)),
                ('brief', models.JSONField(blank=True, null=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('order', models.PositiveIntegerField()),
                ('phase', models.CharField(choices=[('ideation', 'Ideation'), ('refinement', 'Refinement'), ('synthesis', 'Synthesis'), ('review', 'Review'), ('generating', 'Generating'), ('complete', 'Complete')], default='ideation', max_length=16)),
                ('round', models.PositiveIntegerField(default=1)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='specialists.conversation')),
                ('generation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='chat_messages', to='generations.generation')),
            ],
            options={
                'ordering': ['conversation', 'order'],
                'constraints': [models.UniqueConstraint(fields=('conversation', 'order'), name='specialists_message_order_unique')],
            },
        ),
        migrations.RunPython(copy_rows, migrations.RunPython.noop),
    ]
