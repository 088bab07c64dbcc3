from django.contrib import admin

from generations.models import Generation, MediaOutput, ModelFamily


class MediaOutputInline(admin.TabularInline):
    model = MediaOutput
    extra = 0
    fields = ("file", "kind", "content_type", "width", "height", "size_bytes")
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("id", "session", "kind", "template", "status", "progress", "server", "attempts", "created_at")
    list_filter = ("status", "kind", "template", "server", "created_at")
    search_fields = ("session__title", "prompt_id", "error", "parameters")
    readonly_fields = ("created_at", "started_at", "heartbeat_at", "finished_at", "prompt_id", "client_id")
    date_hierarchy = "created_at"
    inlines = [MediaOutputInline]


@admin.register(MediaOutput)
class MediaOutputAdmin(admin.ModelAdmin):
    list_display = ("id", "generation", "kind", "content_type", "size_bytes", "created_at")
    list_filter = ("kind", "content_type")


@admin.register(ModelFamily)
class ModelFamilyAdmin(admin.ModelAdmin):
    list_display = ("model", "family", "owner", "updated_at")
    list_filter = ("family",)
    search_fields = ("model", "owner__username")
