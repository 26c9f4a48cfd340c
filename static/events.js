// The events page (/docs/events): AsyncAPI's React component renders /asyncapi.json.
AsyncApiStandalone.render({
  schema: { url: "/asyncapi.json" },
  config: { show: { sidebar: true } },
}, document.getElementById("asyncapi"));
