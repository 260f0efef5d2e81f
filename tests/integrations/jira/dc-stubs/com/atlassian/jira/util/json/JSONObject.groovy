// Stub of Jira's JSONObject: keeps the map it was made from.
package com.atlassian.jira.util.json

class JSONObject {
    final Map map
    JSONObject(Map map) { this.map = new LinkedHashMap(map) }
}
