from django.conf import settings


def studio(request):
    return {"LOCAL_AUTO_LOGIN": settings.LOCAL_AUTO_LOGIN}
