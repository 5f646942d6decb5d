// The HTTP API reference: Swagger UI (vendor/swagger-ui, loaded before this file) on the OpenAPI
// document the page names in data-document. A file rather than an inline script, so that the page's
// Content-Security-Policy forbids inline scripts.
const root = document.getElementById("reference");
window.ui = SwaggerUIBundle({
  url: root.dataset.document,
  domNode: root,
  deepLinking: true,
  // By default Swagger UI sends the document to validator.swagger.io for a badge; nothing here
  // leaves the hub.
  validatorUrl: null,
  // A URL such as ?url=… must not make the page load another document.
  queryConfigEnabled: false,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  filter: true,
  displayRequestDuration: true,
});
