from django.contrib import admin

from specialists.models import Conversation, Message
from studio.core.models import Session


class ConversationInline(admin.TabularInline):
    model = Conversation
    extra = 0
    fields = ("phase", "round", "running_since", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "created_at", "updated_at")
    list_filter = ("created_at", "owner")
    search_fields = ("title", "owner__username", "conversations__messages__content")
    date_hierarchy = "created_at"
    inlines = [ConversationInline]

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("order", "role", "status", "phase", "round", "content")
    readonly_fields = ("order",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "session", "phase", "round", "created_at")
    list_filter = ("phase",)
    search_fields = ("session__title",)
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "order", "role", "status", "phase", "created_at")
    list_filter = ("role", "status", "phase")
    search_fields = ("content", "conversation__session__title")
