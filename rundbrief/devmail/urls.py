from django.urls import path

from rundbrief.devmail import views

app_name = "devmail"

urlpatterns = [
    path("", views.outbox, name="outbox"),
    path("<str:message_id>/", views.message, name="message"),
    path("<str:message_id>/html/", views.message_html, name="message-html"),
]
