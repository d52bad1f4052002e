FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY worker ./worker
COPY webhooks ./webhooks
COPY sandbox ./sandbox
COPY ops ./ops
RUN pip install --no-cache-dir . flower
USER nobody
EXPOSE 8080
CMD ["chat-transfer", "web", "--host", "0.0.0.0", "--port", "8080"]
